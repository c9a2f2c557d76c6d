"""Auto-invest: the rule (`rule`) and what one execution of it does (`execution`)."""
