// Package alertmanager holds etcd-monitor's Alertmanager configuration
// (alertmanager.yml) and notification templates (templates/), and the tests
// that run them through the real amtool and alertmanager: configuration
// check, routing per severity, template rendering, and delivery and
// inhibition end to end against loopback Slack, PagerDuty, SMTP and webhook
// sinks. There is no Go API: the package exists for its files and tests.
package alertmanager
