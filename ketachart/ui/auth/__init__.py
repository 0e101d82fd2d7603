"""Sign-in, privacy lock, idle lock, signature re-authentication and the admin view (Qt).

The widgets hold no clinical state: they show what they are given and call the auth services
(:mod:`ketachart.auth`). The main window integrates them through :class:`LockController`:

    from ketachart.ui.auth import LockController, SignInDialog, ReauthDialog, AdminDialog

    lock = LockController(window, clock, accounts, on_locked=..., on_unlocked=...)   # idle lock from policy
    lock.set_clocks_text("Infusing 32:10 · discharge in 1:27:50")                     # while locked, too
    lock.set_alert(True, "Alert active: BP 192/104")                                  # shown on the lock screen
    lock.lock("manual")                                                               # e.g. a Lock button
"""

from .admin import AdminDialog
from .controller import LockController
from .idle import IdleWatcher
from .lock_screen import LockScreen
from .reauth import ReauthDialog
from .sign_in import FirstAdminDialog, SignInDialog

__all__ = ["AdminDialog", "FirstAdminDialog", "IdleWatcher", "LockController", "LockScreen", "ReauthDialog",
           "SignInDialog"]
