"""The web app's UI: page layout and events (ui.py), embedding maps (maps.py, figures.py), session state.

Presentation only, over the prediction service in avzsl/zeroshot.py; `python app.py` starts it.
"""
