"""The Discord chat layer: client and slash commands (only this and the Discord sink import discord)."""
