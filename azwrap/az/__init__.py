"""Running az: finding and launching it, the runner, the call log, redaction."""
