"""The hub assembled: the top layer that puts the apps together into one service.

Imports run config → accounts → contacts → outreach → automations → hub. What
needs every app at once lives here and nowhere lower: the URL map (hub.urls),
beat's leader lock (hub.beat), the demo data command (seed_demo) and keeping
beat's schedule in step with config/periodic_tasks.py (sync_periodic_tasks).
"""
