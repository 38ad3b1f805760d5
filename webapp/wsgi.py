"""The app as a serving process runs it: ``gunicorn webapp.wsgi:app`` (what
``sessionboard serve`` starts). Each worker compiles its templates before its
first request, and sweeps and renders new messages' HTML in the background; the
leases in the database let one of them do each per interval."""

from webapp import create_app, start_background_work, warm_up

app = create_app()
warm_up(app)
start_background_work(app)
