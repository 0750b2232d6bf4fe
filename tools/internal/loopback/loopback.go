// Package loopback tells whether a host is this machine, the one place where
// credentials and plain HTTP may meet.
package loopback

import (
	"fmt"
	"net"
	"strings"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for
// a process about to be told to listen on it.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Host reports whether hostport names this machine: localhost, an address
// in 127.0.0.0/8, or ::1. It accepts a bare host, host:port, [v6]:port and
// a bare or bracketed IPv6 address.
func Host(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// FreeRun returns a loopback port P such that P+o is free for every offset
// o: the ports of a local loop of several services, which take the
// environments' and the services' offsets from one base.
func FreeRun(offsets ...int) (int, error) {
	for range 50 {
		p, err := FreePort()
		if err != nil {
			return 0, err
		}
		free := true
		for _, o := range offsets {
			if p+o > 65535 {
				free = false
				break
			}
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+o))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return p, nil
		}
	}
	return 0, fmt.Errorf("find free loopback ports at offsets %v from one base: none in 50 tries", offsets)
}
