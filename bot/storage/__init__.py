"""SQLite storage: one database file, migrations, typed repositories, one writer thread."""
