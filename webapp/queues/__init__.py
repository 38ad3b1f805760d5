"""The queues feature: saved views, review queues with assignment, rubrics and scores."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the blueprint and what other features' templates include: the saved
    views of the navigation (with their counts), a session page's rubric panel and
    the session list's rubric scores (its column and the filter form's criteria)."""
    from webapp.queues import scores, service, views

    app.register_blueprint(views.bp)
    app.jinja_env.globals["saved_views_nav"] = service.nav_views
    app.jinja_env.globals["rubric_panels"] = views.panels_for
    app.jinja_env.globals["score_list"] = scores.list_context
