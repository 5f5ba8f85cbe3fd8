"""Code that runs inside the database server's Python (PL/Python), and state storage shared with
the worker. Nothing here may import psycopg: the backend talks to Postgres through ``plpy``."""
