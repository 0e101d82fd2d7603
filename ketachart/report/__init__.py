"""The session summary: what goes on paper (pure), then rendering onto a paged paint device."""
