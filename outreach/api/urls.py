from rest_framework.routers import SimpleRouter

from outreach.api.cadences import CadenceViewSet, EnrollmentViewSet
from outreach.api.views import ActionViewSet, IdentityViewSet

router = SimpleRouter(trailing_slash=False)
router.register("actions", ActionViewSet, basename="action")
router.register("identities", IdentityViewSet, basename="identity")
router.register("cadences", CadenceViewSet, basename="cadence")
router.register("enrollments", EnrollmentViewSet, basename="enrollment")

urlpatterns = router.urls
