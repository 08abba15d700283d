from rest_framework.routers import SimpleRouter

from outreach.api.views import ActionViewSet, IdentityViewSet

router = SimpleRouter(trailing_slash=False)
router.register("actions", ActionViewSet, basename="action")
router.register("identities", IdentityViewSet, basename="identity")

urlpatterns = router.urls
