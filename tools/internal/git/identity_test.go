package git

import "testing"

func TestCheckIdentity(t *testing.T) {
	for _, name := range []string{"Release Bot", "platform-demo-bot", "Zoë"} {
		if err := CheckName(name); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range []string{" ", "Bot <x@y>", "two\nlines", "tab\there"} {
		if err := CheckName(name); err == nil {
			t.Errorf("CheckName(%q) = nil, want an error", name)
		}
	}
	for _, email := range []string{"release-bot@example.com", "platform-demo-bot@users.noreply.github.com", "a+b@localhost"} {
		if err := CheckEmail(email); err != nil {
			t.Errorf("CheckEmail(%q) = %v, want nil", email, err)
		}
	}
	for _, email := range []string{"not an email", "bot", "Bot <bot@example.com>", "bot@example.com\nx", "@example.com", " bot@example.com"} {
		if err := CheckEmail(email); err == nil {
			t.Errorf("CheckEmail(%q) = nil, want an error", email)
		}
	}
}
