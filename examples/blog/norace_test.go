//go:build !race

package blog_test

const raceEnabled = false
