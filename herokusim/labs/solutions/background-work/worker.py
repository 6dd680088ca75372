"""The worker: takes welcome e-mails off the Redis queue and sends them, one by one, while nobody waits."""

import os
import time

import redis

SEND_SECONDS = 2
QUEUE = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)


def send_welcome_email(address: str) -> None:
    time.sleep(SEND_SECONDS)  # talking to the mail server
    print(f"Sent welcome e-mail to {address}", flush=True)


print("Waiting for e-mails to send", flush=True)
while True:
    _, address = QUEUE.blpop("emails")
    send_welcome_email(address)
