"""The command-line interfaces: thin click commands that parse, call and print."""
