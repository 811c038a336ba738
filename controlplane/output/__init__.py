"""What works print: the log store behind ``lightning-ctl logs``, duplicate suppression, the console."""
