package main

import "testing"

func TestSQLiteURLCarriesTheSynchronousSetting(t *testing.T) {
	for _, mode := range []string{"normal", "full"} {
		got, err := sqliteURL("/data", mode)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		want := "file:/data/?_pragma=synchronous(" + mode + ")"
		if got != want {
			t.Errorf("%s: got %q, want %q", mode, got, want)
		}
	}
}

func TestSQLiteURLRefusesAnUnknownSynchronousSetting(t *testing.T) {
	for _, mode := range []string{"", "off", "NORMAL", "normal); drop"} {
		if _, err := sqliteURL("/data", mode); err == nil {
			t.Errorf("%q was accepted", mode)
		}
	}
}
