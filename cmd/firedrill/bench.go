package main

import "github.com/spf13/cobra"

func newBenchCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Benchmarks that print a table"}
	cmd.AddCommand(newBenchClaimCmd(g), newBenchSearchCmd(g), newBenchProxyCmd(g), newBenchDrillCmd(g))
	return cmd
}
