"""The AWS World as the emulator runs it: on moto (in this process or a moto server), with the
deployment's own stack created from the infra template, and a queue timed by the emulator's
clock. Emulator-only: moto is imported here and nowhere in `adapters`.
"""
