"""Servers: what each server's admins configure, validated."""
