"""The ``consentcam`` command line: a thin layer over the library.

``consentcam.cli.main`` imports every command's module at each start, ``--help`` included, so a
command imports the library modules it uses inside itself: they bring SQLAlchemy, numpy, the face
models and OpenCV, FastAPI and uvicorn, httpx, matplotlib or fpdf2, which only that command needs.
At the top of a command module are only light modules: ``errors``, ``config``, ``net``,
``model_card``, ``consent.profiles`` and the CLI's own helpers.
"""
