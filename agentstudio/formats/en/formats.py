"""English date formats: day month year, 24-hour clock, and the time zone's abbreviation, so a
timestamp in the admin says which clock it is on."""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y H:i T"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y H:i T"
