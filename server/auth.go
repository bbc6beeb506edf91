package server

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Role is what a user may do besides reading, which is open to all.
type Role string

// The roles.
const (
	// Writer may append events and play games.
	Writer Role = "writer"
	// Admin may also change stream metadata and delete streams.
	Admin Role = "admin"
)

// ErrBadUsers means a users file cannot be used; the message names the
// line.
var ErrBadUsers = errors.New("bad users file")

// Users are the accounts that may write, read from a users file: one user
// a line, "name:role:bcrypt-hash", with blank lines and lines starting
// with # ignored. [HashPassword] makes the hash; "chronicle passwd" writes
// the line. It is safe for concurrent use.
type Users struct {
	users map[string]user

	// verified caches a digest of each user's password once bcrypt has
	// accepted it: bcrypt is slow on purpose, too slow to run on every
	// request of a client that sends its password each time.
	mu       sync.Mutex
	verified map[string][32]byte
}

type user struct {
	role Role
	hash []byte
}

// LoadUsers reads the users file at path.
func LoadUsers(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	defer f.Close()
	u, err := ParseUsers(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return u, nil
}

// ParseUsers reads users in the format of a users file.
func ParseUsers(r io.Reader) (*Users, error) {
	u := &Users{users: map[string]user{}, verified: map[string][32]byte{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, role, hash, err := parseUserLine(line)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrBadUsers, n, err)
		}
		if _, dup := u.users[name]; dup {
			return nil, fmt.Errorf("%w: line %d: user %q appears twice", ErrBadUsers, n, name)
		}
		u.users[name] = user{role: role, hash: []byte(hash)}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	if len(u.users) == 0 {
		return nil, fmt.Errorf("%w: it has no users: add one with \"chronicle passwd FILE NAME\"", ErrBadUsers)
	}
	return u, nil
}

func parseUserLine(line string) (name string, role Role, hash string, err error) {
	parts := strings.SplitN(line, ":", 3)
	if len(parts) != 3 {
		return "", "", "", errors.New(`want name:role:hash`)
	}
	name, role, hash = parts[0], Role(parts[1]), parts[2]
	if err := ValidateUserName(name); err != nil {
		return "", "", "", err
	}
	if role != Writer && role != Admin {
		return "", "", "", fmt.Errorf("role %q: want writer or admin", role)
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return "", "", "", fmt.Errorf("the password of %q is not a bcrypt hash: %v", name, err)
	}
	return name, role, hash, nil
}

// ValidateUserName reports whether name can name a user: 1 to 64
// letters, digits, '.', '_' or '-'.
func ValidateUserName(name string) error {
	if name == "" || len(name) > 64 || strings.TrimFunc(name, func(r rune) bool {
		return r == '.' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
	}) != "" {
		return fmt.Errorf("user name %q: want 1 to 64 letters, digits, '.', '_' or '-'", name)
	}
	return nil
}

// HashPassword returns the bcrypt hash of password for a users file.
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("the password is empty")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// UserLine returns the line of a users file for a user.
func UserLine(name string, role Role, hash string) string {
	return name + ":" + string(role) + ":" + hash
}

// Check returns the role of the user name if password is theirs; ok is
// false for an unknown user or a wrong password.
func (u *Users) Check(name, password string) (role Role, ok bool) {
	acct, ok := u.users[name]
	if !ok {
		// Spend the time a real check takes, so that timing does not
		// tell which names exist.
		bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return "", false
	}
	digest := sha256.Sum256([]byte(name + "\x00" + password))
	u.mu.Lock()
	cached, hit := u.verified[name]
	u.mu.Unlock()
	if hit && subtle.ConstantTimeCompare(cached[:], digest[:]) == 1 {
		return acct.role, true
	}
	if bcrypt.CompareHashAndPassword(acct.hash, []byte(password)) != nil {
		return "", false
	}
	u.mu.Lock()
	u.verified[name] = digest
	u.mu.Unlock()
	return acct.role, true
}

// dummyHash is the hash of a password nobody has, at the default cost,
// made when first needed rather than at every program's start.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("no such user"), bcrypt.DefaultCost)
	return h
})

type userKey struct{}

// userOf returns the authenticated user of a request, or "".
func userOf(r *http.Request) string {
	name, _ := r.Context().Value(userKey{}).(string)
	return name
}

// authenticate checks that the request may do what needs a role.
func (s *Server) authenticate(r *http.Request, need access) (string, error) {
	users := s.opts.Users
	if users == nil {
		return "", nil
	}
	name, password, ok := r.BasicAuth()
	if !ok {
		return "", &Error{Status: http.StatusUnauthorized, Code: "unauthorized",
			Message: "this needs a user: authenticate with HTTP Basic as a user of the server's users file"}
	}
	role, ok := users.Check(name, password)
	if !ok {
		return "", &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "wrong user name or password"}
	}
	if need == admin && role != Admin {
		return "", &Error{Status: http.StatusForbidden, Code: "forbidden",
			Message: fmt.Sprintf("user %q is a %s: this needs an admin", name, role)}
	}
	return name, nil
}
