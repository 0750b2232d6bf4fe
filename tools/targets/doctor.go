package targets

import (
	"context"
	"errors"
	"fmt"

	"github.com/andrelair-platform/platform-demo/tools/doctor"
)

// Doctor checks settings, credentials and services, and prints each
// problem with its fix.
func Doctor(ctx context.Context, e Env) error {
	s, err := e.config() // its configuration row shows the warnings
	r := doctor.Run(ctx, doctor.Options{Settings: s, ConfigErr: err, Home: e.Home})
	fmt.Fprint(e.Stdout, r.Text())
	if r.Failed() {
		return errors.New("doctor: fix the rows marked ✗ above")
	}
	return nil
}
