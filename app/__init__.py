"""The web app: layout and wiring (ui.py), event handlers (handlers.py), page text (text.py), examples,
embedding maps (maps.py, figures.py), session state.

Presentation only, over the prediction service in avzsl/serving/service.py; `python app.py` starts it.
"""
