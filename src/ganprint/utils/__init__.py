"""Plumbing shared by the entry points: config location and resolvers, instantiation of callbacks and
loggers, run records, atomic writes. Imports nothing from models/ or gans/."""
