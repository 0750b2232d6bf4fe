package excerpt

import (
	"strings"
	"testing"
)

func TestOf(t *testing.T) {
	long := strings.Repeat("x", Limit+10)
	tests := []struct {
		name, body, want string
	}{
		{name: "empty", body: "", want: ""},
		{name: "blank", body: " \n\t", want: ""},
		{name: "folded onto one line", body: "<html>\n  <h1>502</h1>\n</html>", want: `: "<html> <h1>502</h1> </html>"`},
		{name: "cut", body: long, want: `: "` + long[:Limit] + `..."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Of([]byte(tt.body)); got != tt.want {
				t.Errorf("Of(%q) = %q, want %q", tt.body, got, tt.want)
			}
		})
	}
}
