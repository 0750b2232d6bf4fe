package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andrelair-platform/platform-demo/tools/internal/inputs"
	"github.com/andrelair-platform/platform-demo/tools/internal/inputstest"
)

var update = flag.Bool("update", false, "rewrite README.md's settings table from the declarations")

// The markers around the README's settings table.
const (
	tableStart = "<!-- settings: made by config.Table from config.Declared; go test ./config -run TestREADMESettings -update rewrites it -->\n"
	tableEnd   = "<!-- end of settings -->\n"
)

// TestREADMESettings guards the one declaration of every setting: the
// README's table is the declarations', so a setting added, renamed or given
// a new default cannot be documented otherwise.
func TestREADMESettings(t *testing.T) {
	path := filepath.Join(inputstest.Need(t, inputs.Readme), "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	before, rest, ok := strings.Cut(readme, tableStart)
	if !ok {
		t.Fatalf("README.md has no line %q before the settings table", tableStart)
	}
	table, after, ok := strings.Cut(rest, tableEnd)
	if !ok {
		t.Fatalf("README.md has no line %q after the settings table", tableEnd)
	}
	want := Table()
	if table == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(before+tableStart+want+tableEnd+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's settings table is not config.Table(): run go test ./config -run TestREADMESettings -update\nwant:\n%s\ngot:\n%s", want, table)
}

// TestDeclared guards the declarations themselves: every variable Load
// reads is declared (the loader panics otherwise), each once, with help.
func TestDeclared(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Declared {
		if seen[s.Name] {
			t.Errorf("%s is declared twice", s.Name)
		}
		seen[s.Name] = true
		if s.Help == "" {
			t.Errorf("%s has no help", s.Name)
		}
	}
	s, _ := Load(func(string) (string, bool) { return "", false }, "")
	for _, v := range s.Vars {
		if !seen[v.Name] {
			t.Errorf("Load reads %s, which is not declared", v.Name)
		}
	}
}
