package main

// defaultMessage is the message of / when MESSAGE is unset.
const defaultMessage = "Hello from platform-demo"

// config is the service's own configuration, read from the environment;
// what every service reads (PORT, LOG_LEVEL, SHUTDOWN_*, FAULT_*) is the
// kit's (kit.LoadConfig).
type config struct {
	message string
}

// loadConfig reads MESSAGE through getenv.
func loadConfig(getenv func(string) string) config {
	cfg := config{message: defaultMessage}
	if m := getenv("MESSAGE"); m != "" {
		cfg.message = m
	}
	return cfg
}
