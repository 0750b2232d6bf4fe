// Command bare serves fixed answers with net/http and nothing else: the
// floor that any Go HTTP handler on this machine is measured against.
//
// Usage: bare BODIES.json, where the file maps each path to
// {"contentType": "...", "body": "..."}. It listens on a free loopback port
// and prints the address on stdout.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
)

type answer struct {
	ContentType string `json:"contentType"`
	Body        string `json:"body"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: bare BODIES.json")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var answers map[string]answer
	if err := json.Unmarshal(b, &answers); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	type reply struct {
		contentType []string
		body        []byte
	}
	replies := map[string]reply{}
	for path, a := range answers {
		replies[path] = reply{[]string{a.ContentType}, []byte(a.Body)}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep, ok := replies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header()["Content-Type"] = rep.contentType
		_, _ = w.Write(rep.body)
	}))
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
