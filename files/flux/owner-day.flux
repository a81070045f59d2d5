// Days, months and years are the owner's, in their time zone, wherever Grafana is opened.
option location = timezone.location(name: "${timezone}")
