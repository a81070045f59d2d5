// Daylight, conservatively: {{ daylight_from }}:00 to {{ daylight_to }}:00 in the owner's time zone, when the sun is up on every
// day of the year up to about 60 degrees of latitude, daylight saving time or not. A fixed window,
// not a sun-position calculation: outside it an inverter is not expected to report or produce.
import "date"
import "timezone"

option location = timezone.location(name: {{ timezone | quoted }})
hour = date.hour(t: now())
daylight = hour >= {{ daylight_from }} and hour < {{ daylight_to }}
