"""Tests of the /view dashboard in a real headless Chromium (Debian's ``chromium``, driven by playwright)."""
