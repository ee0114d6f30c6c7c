// Package testsink holds loopback stand-ins for the services alert
// notifications go to (Slack, PagerDuty, an SMTP relay, a webhook), for
// tests that run a real Alertmanager, and the shipped alertmanager.yml
// pointed at them.
package testsink

import (
	"net"
	"net/textproto"
	"strings"
	"time"
)

// ServeSMTP speaks just enough SMTP on c for Alertmanager's client: no
// STARTTLS and no AUTH are offered, so neither is attempted. Each message
// body is handed to onMail as received.
func ServeSMTP(c net.Conn, onMail func(raw []byte)) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(c)
	_ = tp.PrintfLine("220 sink ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		switch verb, _, _ := strings.Cut(strings.ToUpper(line), " "); verb {
		case "EHLO", "HELO":
			_ = tp.PrintfLine("250 sink")
		case "MAIL", "RCPT", "RSET", "NOOP":
			_ = tp.PrintfLine("250 ok")
		case "DATA":
			_ = tp.PrintfLine("354 end with .")
			b, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			onMail(b)
			_ = tp.PrintfLine("250 ok")
		case "QUIT":
			_ = tp.PrintfLine("221 bye")
			return
		default:
			_ = tp.PrintfLine("502 not here")
		}
	}
}
