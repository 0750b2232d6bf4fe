package loopback

import (
	"fmt"
	"net"
	"testing"
)

// TestHost guards the rule that decides where tokens and passwords may go
// in clear text: a host that only looks local must not pass.
func TestHost(t *testing.T) {
	tests := []struct {
		name     string
		hostport string
		want     bool
	}{
		{name: "localhost", hostport: "localhost", want: true},
		{name: "localhost with port", hostport: "localhost:5055", want: true},
		{name: "localhost upper case", hostport: "LOCALHOST:5055", want: true},
		{name: "v4 loopback", hostport: "127.0.0.1", want: true},
		{name: "v4 loopback with port", hostport: "127.0.0.1:5055", want: true},
		{name: "other v4 loopback", hostport: "127.0.0.2:80", want: true},
		{name: "v6 loopback", hostport: "::1", want: true},
		{name: "bracketed v6 loopback", hostport: "[::1]", want: true},
		{name: "v6 loopback with port", hostport: "[::1]:5055", want: true},
		{name: "empty", hostport: "", want: false},
		{name: "private v4", hostport: "10.0.0.200:5000", want: false},
		{name: "unspecified v4", hostport: "0.0.0.0:5055", want: false},
		{name: "v6 other", hostport: "[fe80::1]:5055", want: false},
		{name: "public name", hostport: "ghcr.io", want: false},
		{name: "mDNS name", hostport: "registry.local:5000", want: false},
		{name: "localhost lookalike", hostport: "localhost.example.com", want: false},
		{name: "loopback lookalike", hostport: "127.0.0.1.example.com:443", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Host(tt.hostport); got != tt.want {
				t.Errorf("Host(%q) = %v, want %v", tt.hostport, got, tt.want)
			}
		})
	}
}

func TestFreeRun(t *testing.T) {
	offsets := []int{0, 1, 10, 11}
	p, err := FreeRun(offsets...)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range offsets {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+o))
		if err != nil {
			t.Errorf("FreeRun(%v) = %d, but port %d is taken: %v", offsets, p, p+o, err)
			continue
		}
		ln.Close()
	}
}
