package output

import (
	"fmt"
	"regexp"
)

// Named is one entry of the "outputs:" list: an output with a name routes
// refer to. Each named output has its own disk buffer, queue, retries and
// standby.
type Named struct {
	// Name is what routes' output refers to: [a-z0-9_-], 1 to 64
	// characters, not "default" (the top-level output's name).
	Name   string `yaml:"name"`
	Config `yaml:",inline"`
}

var validName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// Validate reports every problem of n, each prefixed with its field path.
func (n Named) Validate() error {
	var errs []error
	if !validName.MatchString(n.Name) || n.Name == "default" {
		errs = append(errs, fmt.Errorf("name: %q is not 1 to 64 characters of [a-z0-9_-] other than \"default\"", n.Name))
	}
	if err := n.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	return joinFlat(errs)
}

// joinFlat joins errors, flattening joined ones so that each problem keeps
// its own line and its field path.
func joinFlat(errs []error) error {
	var out []error
	for _, e := range errs {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			out = append(out, j.Unwrap()...)
		} else if e != nil {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return joined(out)
}

type joined []error

func (j joined) Error() string {
	s := ""
	for i, e := range j {
		if i > 0 {
			s += "\n"
		}
		s += e.Error()
	}
	return s
}

func (j joined) Unwrap() []error { return j }
