"""Mounting the pages on the coordinator's app: the routers, the local static files, and
problems shown as pages to people in a browser (401: to the login page)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from coordinator.errors import Problem
from coordinator.web import (
    admin,
    casework,
    city_map,
    console,
    control_room,
    login,
    planner,
    portal,
    video_wall,
)
from coordinator.web.templates import STATIC, render


def page_problem(request: Request, problem: Problem) -> Response:
    if problem.status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
    return render(request, "problem.html", status=problem.status, problem=problem)


def install(app: FastAPI) -> None:
    for module in (portal, login, console, casework, control_room, video_wall, city_map,
                   admin, planner):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.state.page_problem = page_problem
