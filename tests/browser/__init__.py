"""Real-browser tests: a real Home Assistant with its frontend, driven by headless Chromium."""
