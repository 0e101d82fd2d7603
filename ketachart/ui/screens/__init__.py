"""The chair's screens: patients and courses, pre-session, the session itself, the discharge check."""
