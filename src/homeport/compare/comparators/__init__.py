"""Built-in comparators, cheapest first; see ``base`` for the plugin contract."""
