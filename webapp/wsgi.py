"""The app as a serving process runs it: ``gunicorn webapp.wsgi:app`` (what
``sessionboard serve`` starts). Each worker sweeps in the background; the lease in
the database lets one of them work per interval."""

from webapp import create_app, start_background_work

app = create_app()
start_background_work(app)
