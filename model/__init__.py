"""The mapping protocol as an executable state machine, one module per concern."""
