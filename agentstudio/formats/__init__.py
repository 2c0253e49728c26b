"""Date and time formats for the admin (FORMAT_MODULE_PATH): times name their time zone."""
