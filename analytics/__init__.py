"""Call analytics for agencies: when should we call?"""
