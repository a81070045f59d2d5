// Daylight, conservatively: {{ daylight_from }}:00 to {{ daylight_to }}:00 in the owner's time zone, when the sun is up on every
// day of the year up to about 60 degrees of latitude, daylight saving time or not. A fixed window,
// not a sun-position calculation: outside it an inverter is not expected to report or produce.
import "date"
import "timezone"

option location = timezone.location(name: {{ timezone | quoted }})
hour = date.hour(t: now())
daylight = hour >= {{ daylight_from }} and hour < {{ daylight_to }}
// The end of the latest daylight: now in daylight, else {{ daylight_to }}:00 today or yesterday. A rule judges
// what it saw up to then, so a fault found in daylight keeps firing through the evening and the
// night until the inverter is well again, instead of resolving at {{ daylight_to }}:00 (an email saying so)
// and firing again the next day. date.add moves the owner's wall clock (stdlib/date/durations.go,
// addDuration: FromLocalClock, add, ToLocalClock), so it is {{ daylight_to }}:00 on a 23- or 25-hour day too.
reference = if daylight then now() else date.add(d: {{ daylight_to }}h, to: if hour >= {{ daylight_to }} then today() else date.sub(d: 1d, from: today()))
