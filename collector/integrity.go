package collector

import (
	"errors"
	"fmt"
)

// IncompleteError is what a full source returns when it could not read the whole source: the paging chain ended
// early, a page failed, the count the server announced disagrees with what was read, or records had no usable
// id. The pipeline publishes the joiners and changes of the records it got, and treats nobody as a leaver: a
// person missing from a partial read has not left.
type IncompleteError struct {
	// Reason says what went wrong, for the log line and the mail.
	Reason string
	// Read is the number of records the source read; Announced the number the server said it holds (-1 when
	// the server announced none).
	Read, Announced int
	// Err is the underlying error, if any (a failed page).
	Err error
}

func (e *IncompleteError) Error() string {
	s := fmt.Sprintf("incomplete collection: %s (read %d records", e.Reason, e.Read)
	if e.Announced >= 0 {
		s += fmt.Sprintf(", the server announced %d", e.Announced)
	}
	s += "); nobody is treated as a leaver until a collection reads the whole source"
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *IncompleteError) Unwrap() error { return e.Err }

// Incomplete wraps err (a failed page) as an incomplete collection after read records.
func Incomplete(reason string, read, announced int, err error) error {
	return &IncompleteError{Reason: reason, Read: read, Announced: announced, Err: err}
}

// incomplete finds an IncompleteError in err.
func incomplete(err error) *IncompleteError {
	var ie *IncompleteError
	if errors.As(err, &ie) {
		return ie
	}
	return nil
}
