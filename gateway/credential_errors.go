package gateway

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
)

// LogIfRefused logs, as an error that says what to do, a broker's refusal of the entity's credential (revoked,
// expired, signing key rotated); it reports whether err was one. Without it a refused gateway only ever logged
// "connection closed" while it retried.
func LogIfRefused(log *slog.Logger, err error, userJWT string, attrs ...any) bool {
	if err == nil {
		return false
	}
	msg := strings.ToLower(err.Error())
	refused := errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) ||
		strings.Contains(msg, "authorization violation") || strings.Contains(msg, "authentication expired") ||
		strings.Contains(msg, "authentication revoked")
	if !refused {
		return false
	}
	why := "the broker refused this entity's NATS credential (revoked, its signing key rotated, or of another installation)"
	if uc, derr := jwt.DecodeUserClaims(userJWT); derr == nil {
		attrs = append(attrs, "user", uc.Subject, "user_name", uc.Name)
		if uc.Expires > 0 && time.Unix(uc.Expires, 0).Before(time.Now()) {
			why = "the broker refused this entity's NATS credential: it expired at " + time.Unix(uc.Expires, 0).UTC().Format(time.RFC3339)
		}
	}
	log.Error("gateway: "+why+"; issue a new one with scim-stream creds and put it in nats.jwt/nats.secret", append(attrs, "err", err)...)
	return true
}
