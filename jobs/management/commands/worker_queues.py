import json

from django.core.management.base import BaseCommand

from jobs import queue


class Command(BaseCommand):
    help = ("Print what a worker on this host offers (GPU, backends it can run) and the queues it will take: "
            "those, or HEYGEM_WORKER_QUEUES when set.")

    def handle(self, *args, **options):
        offer = queue.capability()
        self.stdout.write(json.dumps({**offer, "queues": queue.worker_queues(offer)}))
