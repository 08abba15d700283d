from django.core.management.base import BaseCommand

from config.periodic_tasks import sync_periodic_tasks


class Command(BaseCommand):
    help = "Make django-celery-beat's schedule match config/periodic_tasks.py."

    def handle(self, *args, **options) -> None:
        report = sync_periodic_tasks()
        for verb, names in report.items():
            for name in names:
                self.stdout.write(f"{verb}: {name}")
