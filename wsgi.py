"""The WSGI entry point from a checkout: ``gunicorn wsgi:app`` (see webapp/wsgi.py)."""

from webapp.wsgi import app as app
